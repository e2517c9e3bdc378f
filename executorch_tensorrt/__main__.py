import sys

from executorch_tensorrt.cli import main

sys.exit(main())
