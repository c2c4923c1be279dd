"""Energy, cost and host monitoring: power sources, a background sampler, metrics.

Modules: `sources` (the PowerSource protocol and detection), one reader per source
(`rapl`, `hwmon`, `nvml`, `ipmi`, `command`), `sampler` (background sampling and
integration), `metrics` (pure energy and cost formulas, see docs/metrics.md),
`monitor` (host load: other processes' CPU, frequency, swap, faults) and `presets`
(sourced typical power per hardware preset for `plan`).
"""
