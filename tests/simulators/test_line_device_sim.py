"""The line-protocol device base: parsing, error replies and queue, sync, blocks, faults."""

from __future__ import annotations

from lab.clock import SimulatedClock
from simulators.device import Handler, LineDevice, Response, encode_block
from simulators.faults import FaultPlan


class Echo(LineDevice):
    model = "Echo-1"

    def handlers(self) -> dict[str, Handler]:
        return {"ECHO?": lambda args: ",".join(args), "BLK?": lambda args: encode_block(b"\x00\n\xff"),
                "BOOM": lambda args: 1 / 0}


def make(plan: FaultPlan | None = None) -> Echo:
    return Echo("echo-1", SimulatedClock(), plan)


def test_identity_and_case_insensitive_headers():
    device = make()
    assert device.process(b"*idn?").payload == b"LabSim,Echo-1,echo-1,1.0\n"
    assert device.process(b"echo? a, b\r").payload == b"a,b\n"
    assert device.process(b"").payload is None
    assert device.received == ["*idn?", "echo? a, b"]


def test_errors_are_replied_and_queued():
    device = make()
    assert device.process(b"NOPE").payload == b'ERR -113,"Undefined header NOPE"\n'
    assert device.process(b"\xff\xfe").payload == b'ERR -101,"Invalid character"\n'
    boom = device.process(b"BOOM").payload
    assert boom.startswith(b'ERR 599,"Internal simulator error: ZeroDivisionError')
    assert device.process(b"SYST:ERR?").payload == b'-113,"Undefined header NOPE"\n'
    device.process(b"*CLS")
    assert device.process(b"SYST:ERR?").payload == b'0,"No error"\n'


def test_error_queue_overflows_like_scpi():
    device = make()
    for _ in range(40):
        device.process(b"NOPE")
    codes = []
    while (reply := device.process(b"SYST:ERR?").payload) != b'0,"No error"\n':
        codes.append(int(reply.split(b",")[0]))
    assert len(codes) == 32 and codes[-1] == -350


def test_blocks_are_ieee_definite_length():
    assert encode_block(b"") == b"#10\n"
    assert encode_block(b"x" * 12) == b"#212" + b"x" * 12 + b"\n"
    assert make().process(b"BLK?").payload == b"#13\x00\n\xff\n"


def test_faults_shape_the_response_and_sync_is_exempt():
    device = make(FaultPlan(late_s=0.3, error_code=503, error_message='Door "open"'))
    for kind in ("no_reply", "late_reply", "garbled", "drop", "device_error"):
        device.faults.force(kind)
    assert device.process(b"SYST:SYNC? 7") == Response(b"SYNC 7\n")
    assert device.process(b"ECHO? 1") == Response(None)
    assert device.process(b"ECHO? 2") == Response(b"2\n", delay_s=0.3)
    garbled = device.process(b"ECHO? 3").payload
    assert garbled.endswith(b"\n") and not garbled[:-1].isascii() and b"\n" not in garbled[:-1]
    assert device.process(b"ECHO? 4") == Response(None, drop=True)
    assert device.process(b"ECHO? 5").payload == b"ERR 503,\"Door 'open'\"\n"
    assert device.process(b"ECHO? 6").payload == b"6\n"
    assert [kind for _, kind in device.faults.history] == ["no_reply", "late_reply", "garbled", "drop",
                                                            "device_error"]
