"""Reports and exports of one campaign: a self-contained HTML report, CSV/JSON/Parquet tables."""
