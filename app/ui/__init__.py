"""The Kivy tablet app. The only package that imports Kivy."""
