"""Images pages and actions."""

urlpatterns: list = []
