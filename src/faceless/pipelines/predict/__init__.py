"""Name the people of an unlabeled test set with a trained classifier: a challenge submission."""
