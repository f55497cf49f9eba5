"""Physics code the PYTHIA-based tasks share: particles, FastJet clustering and N-subjettiness,
PYTHIA 8 event generation, resumable generation in parts, and ROOT-file reading."""
