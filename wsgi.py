from peepopay import create_app

app = create_app()
