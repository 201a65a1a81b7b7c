from flipkart_api.cli import main

main()
