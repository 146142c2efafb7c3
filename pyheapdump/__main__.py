import sys

from pyheapdump.cli import main

sys.exit(main())
