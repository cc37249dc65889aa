"""Graded hands-on lessons: the Markdown format, verifiers, the runner, progress and grading.

Scripts and the lab tour use :class:`onboard.lessons.runner.Runner` and
:func:`onboard.lessons.scripted.play_lesson`; `onboard lesson ...` is a thin layer over them.
"""
