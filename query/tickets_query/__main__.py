import sys

from tickets_query.app import main

sys.exit(main())
