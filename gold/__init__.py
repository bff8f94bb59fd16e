"""Gold: curated models and the warehouse export, built from silver's tables (not yet built, issue 5)."""
