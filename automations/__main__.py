from automations.main import main

raise SystemExit(main())
