"""An order-fulfilment app to try the command line with (the demo's workflow).

From the repository root (from anywhere else: ``--app path/to/examples/orders.py:app``, or
``--app daytwo.demo.example:app``, the same app inside the installed package)::

    daytwo worker examples.orders:app &
    daytwo start order '{"id": "A-42", "total": 1500, "country": "France"}' \\
        --app examples.orders:app --id order-42
    daytwo tasks list                       # the manager approval for this large order
    daytwo tasks complete TASK_ID '{"approved": true}' --by alice
    daytwo status order-42
    daytwo history order-42

The database is ``--database``, else ``$DAYTWO_DATABASE``, else ``sqlite:///daytwo.db`` in
the current directory (the app gives no URL of its own).
"""

from daytwo.demo import create_app

app = create_app()
