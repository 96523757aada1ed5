"""`python -m tickets_bench [--quick]`: the benchmark (see tickets_bench.bench)."""

import sys

from tickets_bench.bench import main

sys.exit(main())
