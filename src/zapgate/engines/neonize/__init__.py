"""The neonize (whatsmeow) engine, run in supervised worker processes.

Import :class:`~zapgate.engines.neonize.engine.NeonizeEngine` from ``.engine``; this
package itself imports nothing, so the server never loads neonize (the library is
imported only inside worker processes). See README.md beside this file.
"""
