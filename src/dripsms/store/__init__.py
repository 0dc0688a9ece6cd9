"""Storage: SQLAlchemy tables, the database connection, migrations and queries."""
