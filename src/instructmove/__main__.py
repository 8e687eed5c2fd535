from instructmove.cli import main

raise SystemExit(main())
