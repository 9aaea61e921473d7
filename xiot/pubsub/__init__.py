"""pubsub"""
