from warden.cli import main

raise SystemExit(main())
