"""Run the benchmark suite: the same as `python -m compare bench`.

python benchmarks/run.py [--quick] [--json PATH]
"""

import sys

from compare._cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
