"""Wall power from the BMC: `ipmitool dcmi power reading`.

ipmitool (lib/ipmi_dcmi.c, ipmi_dcmi_pwr_rd) prints, one per line:
`Instantaneous power reading:   477 Watts`, the minimum, maximum and average over the
sampling period, an IPMI timestamp, the sampling period and
`Power reading state is: activated|deactivated`.
"""

from __future__ import annotations

import re
import shutil

from tokbench.energy.base import PowerSourceError, ReadingKind
from tokbench.energy.command import run_with_timeout

_INSTANT = re.compile(r"Instantaneous power reading:\s*(\d+(?:\.\d+)?)\s*Watts", re.IGNORECASE)
_STATE = re.compile(r"Power reading state is:\s*(\w+)", re.IGNORECASE)


def parse_dcmi_power(text: str) -> float:
    """Watts from `ipmitool dcmi power reading` output, or a PowerSourceError."""
    m = _INSTANT.search(text)
    if m is None:
        first = text.strip().splitlines()[0][:80] if text.strip() else "nothing"
        raise PowerSourceError(f"IPMI: no 'Instantaneous power reading' in the output ({first})")
    watts = float(m.group(1))
    state = _STATE.search(text)
    # DCMI bit 6 clear: the BMC is not measuring; its 0 W is no reading at all.
    if state and state.group(1).lower() == "deactivated" and watts == 0:
        raise PowerSourceError("IPMI: the BMC's power reading is deactivated (it reports 0 W)")
    return watts


class IpmiSource:
    """`ipmitool dcmi power reading`, one call per sample."""

    name = "ipmi"
    scope = "wall (IPMI)"
    kind: ReadingKind = "power"

    def __init__(self, ipmitool: str = "ipmitool", timeout_s: float = 5.0) -> None:
        path = shutil.which(ipmitool)
        if path is None:
            raise PowerSourceError(f"IPMI: {ipmitool} not found")
        self.argv = [path, "dcmi", "power", "reading"]
        self.timeout_s = timeout_s

    def read(self) -> float:
        out = run_with_timeout(self.argv, self.timeout_s, "IPMI")
        return parse_dcmi_power(out)

    def close(self) -> None:
        pass
