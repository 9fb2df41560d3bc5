"""flowloom.stores"""
