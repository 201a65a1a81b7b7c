"""What the routes do, without HTTP: predictions, feedback, monitoring, admin actions.

Routers parse the request and call one function here; the objects they need come from
`flipkart_api.deps`.
"""
