"""``prodsmoke monitor``: the gate's suite as a continuous monitor (outside pytest).

``states`` (pure: per-check states and alert transitions), ``cycle`` (one pytest process per
cycle, read through its gate report), ``alerts`` (webhook, Alertmanager), ``metrics``
(prometheus-client: /metrics and Pushgateway) and ``command`` (the loop and its options).
"""
