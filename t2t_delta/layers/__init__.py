"""Neural-network building blocks (tf.Modules)."""
