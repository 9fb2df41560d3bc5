"""The guide's "Multi-module applications": one workflow split across modules.

cd examples && python -m pipeline_sales.run      # the shared-decorator pattern
cd examples && python -m pipeline_sales.build    # explicit registration functions
"""
