import sys

from ci_slackbot.cli import main

sys.exit(main())
