"""Host command line for nerves_hub_link (`nhl`)."""
