import sys

from onboard.labplugin.client import main

sys.exit(main())
