"""Scheduled retraining: inbox intake, the run lock, the retrain state and the train gate."""
