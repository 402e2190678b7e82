"""Notifications and the live event feed: store events to one-line messages, apprise URLs, stalls."""
