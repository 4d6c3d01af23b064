import sys

from ssnl.cli import main

sys.exit(main())
