"""Team pages and actions."""

urlpatterns: list = []
