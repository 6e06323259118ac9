"""Areas: provinces, districts and wards, their medical stations, and each ward's epidemic level.

models           the area tables
decision_218     the epidemic level rules of Decision 218/QĐ-BYT (pure)
policy           the rules in force: Decision 218 and area policies with the settings' overrides
wards            provinces, districts, wards, populations and vaccination figures
csv_import       areas from a CSV (the HCMC sample, or a health department's file)
stations         medical stations
figures          the counts behind the indicators, from triage's own patients and assessments
beds             the bed figures (3b, 3c), from dispatch's bed pools
indicators       each ward's Decision 218 indicators and the counts they came from
levels           computing, storing and explaining each ward's level; the CSV export
reinforcement    wards whose home-care load outgrows their stations
schemas, routes  the HTTP API
jobs             the periodic recompute
demo             demo areas and stations
"""
