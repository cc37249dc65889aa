import sys

from onboard.labplugin import main

sys.exit(main())
