from flipkart_ui.cli import main

main()
