"""The process engine: process specs and their lifecycle, the state layout, components and targets, local PKI."""
