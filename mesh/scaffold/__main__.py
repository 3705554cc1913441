import sys

from mesh.scaffold import main

sys.exit(main())
