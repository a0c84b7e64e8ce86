"""The portsip-im component package for every Pulumi language (`pulumi package add ./components`).

The Pulumi CLI runs this file in the package's own virtualenv (PulumiPlugin.yaml) and talks to it
as a provider; the schema (types, docstrings, required fields) is inferred from portsip_im's args.
"""

from pulumi.provider.experimental import component_provider_host

from portsip_im import ImServer, __version__, naming

if __name__ == "__main__":
    # A YAML or TypeScript program writes camelCase properties: errors name those.
    naming.use(naming.camel_case)
    component_provider_host(name="portsip-im", components=[ImServer], version=__version__)
