-- Run once by the postgres container at its first start: the Prefect server's own database, owned by the
-- same role (on a Debian host, deploy/README.md creates a separate `prefect` role instead).
CREATE DATABASE prefect OWNER dcc;
