"""The local stack of `make up` / `tasklane up` and `make down`.

- `processes`: starting and stopping the server, worker and API as process trees;
- `postgres`: a local PostgreSQL cluster under `.tasklane/postgres/` (`make up DB=postgres`);
- `up`: bringing it all up in order and printing the addresses;
- `sandbox`: one process serving local Jira, Confluence and Mattermost peers (`peers/`) with
  `sandbox` blocks, so the integrations run offline. Shipped with the package: the tests
  import the peers from here.

May import the product's packages, `deployments`, `blocks` and `tasklane.settings`.
"""
