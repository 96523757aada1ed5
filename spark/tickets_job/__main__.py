"""`python -m tickets_job`: run the streaming job (see tickets_job.job)."""

import sys

from tickets_job.app import main

sys.exit(main())
