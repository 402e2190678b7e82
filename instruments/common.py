"""The IEEE 488.2 mandatory common commands, for every driver.

Each line gets one reply in the lab's protocols (:mod:`instruments.scpi`): the commands reply
``OK``, the queries their value. Register bits (IEEE 488.2 section 11):

* event status (``*ESR?``; enabled by ``*ESE``): 1 operation complete, 4 query error, 8 device
  error, 16 execution error, 32 command error, 128 power on;
* status byte (``*STB?``; service requests enabled by ``*SRE``): 4 error queue not empty,
  32 an enabled event happened, 64 request summary.
"""

from __future__ import annotations

from instruments.errors import GarbledReply
from instruments.scpi import ScpiClient

__all__ = ["CommonCommands"]


class CommonCommands:
    """``*IDN?``, ``*RST``, ``*CLS``, ``*ESE``, ``*ESR?``, ``*OPC``, ``*SRE``, ``*STB?``, ``*TST?``, ``*WAI``.

    Mixed into drivers that hold their :class:`~instruments.scpi.ScpiClient` as ``self.scpi``.
    """

    scpi: ScpiClient

    def identify(self) -> str:
        """The device's identity (``*IDN?``): maker, model, serial number, firmware."""
        return self.scpi.query("*IDN?")

    def reset(self) -> None:
        """``*RST``: staged settings back to their power-on values (a running job is not stopped)."""
        self.scpi.write("*RST")

    def clear_status(self) -> None:
        """``*CLS``: empty the error queue and the event status register."""
        self.scpi.write("*CLS")

    def event_status(self) -> int:
        """``*ESR?``: the event status register (reading clears it)."""
        return self._register("*ESR?")

    def event_status_enable(self, mask: int | None = None) -> int:
        """``*ESE <mask>`` when ``mask`` is given (0-255), then ``*ESE?``: the enable mask now."""
        if mask is not None:
            self.scpi.write(f"*ESE {_mask(mask)}")
        return self._register("*ESE?")

    def service_request_enable(self, mask: int | None = None) -> int:
        """``*SRE <mask>`` when ``mask`` is given (0-255), then ``*SRE?``: the enable mask now."""
        if mask is not None:
            self.scpi.write(f"*SRE {_mask(mask)}")
        return self._register("*SRE?")

    def status_byte(self) -> int:
        """``*STB?``: the status byte."""
        return self._register("*STB?")

    def set_operation_complete(self) -> None:
        """``*OPC``: set the operation-complete event bit once pending operations are done."""
        self.scpi.write("*OPC")

    def operation_complete(self) -> bool:
        """``*OPC?``: True once every pending operation is done (the reply waits for them)."""
        return self._register("*OPC?") == 1

    def self_test(self) -> int:
        """``*TST?``: 0 when the device's self-test passed, else its failure code."""
        return self._register("*TST?")

    def wait_to_continue(self) -> None:
        """``*WAI``: the device finishes pending operations before it runs the next command."""
        self.scpi.write("*WAI")

    def _register(self, query: str) -> int:
        reply = self.scpi.query(query)
        try:
            return int(reply)
        except ValueError:
            raise GarbledReply(f"{self.scpi.name}: {query} replied {reply!r}, expected a whole number") from None


def _mask(mask: int) -> int:
    if isinstance(mask, bool) or not isinstance(mask, int) or not 0 <= mask <= 255:
        raise ValueError(f"a status enable mask is a whole number 0..255, got {mask!r}")
    return mask
