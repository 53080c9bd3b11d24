"""Entry point of `python -m compare`.

`--devices N` must reach XLA before JAX starts, so it is turned into
`--xla_force_host_platform_device_count=N` here, before JAX is imported (the package's
`__init__` loads nothing that imports it).
"""

import os
import sys


def _requested_devices(argv: list[str]) -> int:
    for i, arg in enumerate(argv):
        if arg == "--devices" and i + 1 < len(argv) and argv[i + 1].isdigit():
            return int(argv[i + 1])
        if arg.startswith("--devices=") and arg.split("=", 1)[1].isdigit():
            return int(arg.split("=", 1)[1])
    return 1


if (n := _requested_devices(sys.argv[1:])) > 1:
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()

from compare._cli import main  # noqa: E402

sys.exit(main())
