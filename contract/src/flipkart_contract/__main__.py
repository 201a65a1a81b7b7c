from flipkart_contract.schema_files import main

raise SystemExit(main())
