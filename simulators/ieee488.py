"""IEEE 488.2 common commands, SCPI long forms and compound lines, for the device simulators.

**Headers.** Every mnemonic may come in its short form (``SYST``) or its long form
(``SYSTEM``), in any case (``SYSTem:ERRor?``, ``syst:err?``), with an optional leading colon.
:func:`normalize_header` turns a header into the short, upper-case form the handlers are
registered under; a mnemonic that is neither form (``SYSTE``) is left as it is, so it stays
undefined (``ERR -113``).

**Compound lines.** Units separated by ``;`` (outside double quotes) run in order. A unit
without a leading colon is tried first under the previous unit's path (``SCAN:STAR 10;STOP 80``
means ``SCAN:STOP 80``), then from the root; common commands (``*...``) leave the path alone. The
reply is the query replies joined by ``;``, or ``OK`` when the line holds no query. The first unit
that fails stops the line: its ``ERR`` line is the reply (units before it took effect). A block
reply (``#<n>...``) must stand alone on its line.

**Common commands** (:class:`StatusRegisters`; each line still gets one reply):

========  ====================================================================================
``*IDN?`` ``<maker>,<model>,<serial>,<firmware>``
``*RST``  staged setpoints back to their power-on values (a running job keeps running); ``OK``
``*CLS``  clears the error queue and the event status register; ``OK``
``*ESE``  ``*ESE <0-255>`` sets the event status enable mask; ``OK``; ``*ESE?`` reads it
``*ESR?`` the event status register, then clears it (bits: 0 operation complete, 2 query error,
          3 device error, 4 execution error, 5 command error, 7 power on)
``*OPC``  sets the operation-complete bit (every command completes before its reply); ``OK``
``*OPC?`` ``1``
``*SRE``  ``*SRE <0-255>`` sets the service request enable mask; ``OK``; ``*SRE?`` reads it
``*STB?`` the status byte: 4 error queue not empty, 32 enabled events, 64 request summary
``*TST?`` ``0`` (self-test passed)
``*WAI``  ``OK`` (commands run one at a time, so nothing is pending)
========  ====================================================================================
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LONG_FORMS", "StatusRegisters", "normalize_header", "short_form", "split_units"]

#: The long forms of the mnemonics the simulators use; each maps to its short form.
_LONG = ("SYSTEM", "ERROR", "SYNCHRONIZE", "START", "STOP", "STEP", "TIME", "DATA", "STATUS", "ABORT",
         "SOURCE", "TEMPERATURE", "RAMP", "PROGRAM", "DWELL", "ATMOSPHERE", "UNLOAD", "LOG", "RESULT",
         "MASS", "SPECTRUM", "SCAN", "DOSE", "JOB", "RUN", "CLEAR")
#: Short forms that do not follow the SCPI rule.
_EXCEPTIONS = {"CLEAR": "CLR"}
#: ESR bits set by an error code: command (-1xx), execution (-2xx), device (-3xx, >0), query (-4xx).
_ESR_BITS = {-1: 32, -2: 16, -3: 8, -4: 4}
ESR_OPC, ESR_PON = 1, 128
STB_EAV, STB_ESB, STB_MSS = 4, 32, 64


def short_form(long: str) -> str:
    """The SCPI short form of a long mnemonic: its first four letters, or three when the fourth is a vowel.

    Example:
        >>> short_form("SYSTEM"), short_form("ERROR"), short_form("TEMPERATURE")
        ('SYST', 'ERR', 'TEMP')
    """
    long = long.upper()
    if len(long) <= 4:
        return long
    return long[:3] if long[3] in "AEIOU" else long[:4]


#: Long form -> short form.
LONG_FORMS: dict[str, str] = {word: _EXCEPTIONS.get(word, short_form(word)) for word in _LONG}


def normalize_header(header: str) -> str:
    """``header`` in short, upper-case form (``SYSTem:ERRor?`` -> ``SYST:ERR?``).

    Example:
        >>> normalize_header(":system:error?"), normalize_header("scan:star"), normalize_header("*idn?")
        ('SYST:ERR?', 'SCAN:STAR', '*IDN?')
    """
    text = header.strip().upper().lstrip(":")
    query = text.endswith("?")
    words = (text[:-1] if query else text).split(":")
    return ":".join(LONG_FORMS.get(w, w) for w in words) + ("?" if query else "")


def split_units(line: str) -> list[str]:
    """The ``;``-separated units of a line, ignoring ``;`` inside double quotes; empty units dropped.

    Example:
        >>> split_units('SCAN:STAR 10;STOP 80; *OPC?;DOSE:MASS "a;b",1')
        ['SCAN:STAR 10', 'STOP 80', '*OPC?', 'DOSE:MASS "a;b",1']
    """
    units: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            units.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    units.append("".join(current).strip())
    return [u for u in units if u]


class StatusRegisters:
    """The IEEE 488.2 status registers of one device and its common-command handlers.

    Args:
        queue_length: returns how many entries the device's error queue holds.
        clear_queue: empties the error queue (``*CLS``).
        reset: puts staged setpoints back to their power-on values (``*RST``).
        refuse: raises the device's refusal ``(code, message)``.
    """

    def __init__(self, queue_length: Callable[[], int], clear_queue: Callable[[], None],
                 reset: Callable[[], None], refuse: Callable[[int, str], Exception]) -> None:
        self.esr = ESR_PON
        self.ese = 0
        self.sre = 0
        self._queue_length = queue_length
        self._clear_queue = clear_queue
        self._reset = reset
        self._refuse = refuse

    def record_error(self, code: int) -> None:
        """Set the event status bit of an error ``code``."""
        self.esr |= _ESR_BITS.get(-(abs(code) // 100), 8) if code < 0 else 8 if code > 0 else 0

    def power_on(self) -> None:
        """What a restart does to the registers: the power-on bit set, the rest cleared."""
        self.esr, self.ese, self.sre = ESR_PON, 0, 0

    def status_byte(self) -> int:
        """The status byte (``*STB?``): EAV, ESB and the request summary bit."""
        stb = (STB_EAV if self._queue_length() else 0) | (STB_ESB if self.esr & self.ese else 0)
        return stb | (STB_MSS if stb & self.sre & ~STB_MSS else 0)

    def handlers(self) -> dict[str, Callable[[list[str]], str]]:
        """The common commands (all but ``*IDN?``), by header."""
        plain: dict[str, Callable[[], str]] = {
            "*RST": self._rst, "*CLS": self._cls, "*ESE?": lambda: str(self.ese), "*ESR?": self._read_esr,
            "*OPC": self._opc, "*OPC?": lambda: "1", "*SRE?": lambda: str(self.sre),
            "*STB?": lambda: str(self.status_byte()), "*TST?": lambda: "0", "*WAI": lambda: "OK",
        }
        built = {header: self._without_args(header, action) for header, action in plain.items()}
        built["*ESE"] = lambda args: self._set_mask("ese", args, "*ESE")
        built["*SRE"] = lambda args: self._set_mask("sre", args, "*SRE")
        return built

    def _without_args(self, header: str, action: Callable[[], str]) -> Callable[[list[str]], str]:
        """A handler running ``action`` that refuses arguments with ``ERR -108``."""
        def handler(args: list[str]) -> str:
            if args:
                raise self._refuse(-108, f"Parameter not allowed; {header} takes none")
            return action()
        return handler

    def _rst(self) -> str:
        self._reset()
        return "OK"

    def _cls(self) -> str:
        self._clear_queue()
        self.esr = 0
        return "OK"

    def _read_esr(self) -> str:
        value, self.esr = self.esr, 0
        return str(value)

    def _opc(self) -> str:
        self.esr |= ESR_OPC
        return "OK"

    def _set_mask(self, attr: str, args: list[str], header: str) -> str:
        if len(args) != 1:
            raise self._refuse(-109, f"Missing or extra parameter; usage: {header} <0-255>")
        try:
            value = int(args[0])
        except ValueError:
            raise self._refuse(-104, f"Data type error: {header} {args[0]!r} is not a whole number") from None
        if not 0 <= value <= 255:
            raise self._refuse(-222, f"Data out of range: {header} {value} (allowed 0..255)")
        setattr(self, attr, value)
        return "OK"
