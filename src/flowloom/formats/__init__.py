"""flowloom.formats"""
