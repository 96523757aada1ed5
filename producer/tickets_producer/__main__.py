"""`python -m tickets_producer`: send the tickets (tickets_producer.app says how)."""

import sys

from tickets_producer.app import main

sys.exit(main())
