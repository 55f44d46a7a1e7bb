import sys

from karyostudio.cli import main

sys.exit(main())
