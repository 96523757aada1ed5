"""The stack on this machine:

python -m tickets_local run [--cluster]        the whole pipeline (make run, make cluster-run)
python -m tickets_local cluster up|down|status the local cluster (make cluster-up, cluster-down)
python -m tickets_local pictures               the pictures in docs/pictures (make pictures)
"""

import sys

from tickets_local import cluster, pictures, run

COMMANDS = {"run": run.main, "cluster": cluster.main, "pictures": pictures.main}

if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
    sys.stderr.write(__doc__)
    sys.exit(2)
sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
