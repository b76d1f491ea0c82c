"""A real headless Chromium (Debian's chromium + chromium-driver) driven by Selenium, looking at the console.

Selenium Manager is kept off the network (`SE_OFFLINE`): the driver and the browser are the system's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"

T = TypeVar("T")


class Browser:
    """One browser window (its own sessionStorage: one operator), with waits that say what they waited for."""

    def __init__(self, base_url: str, name: str) -> None:
        os.environ["SE_OFFLINE"] = "true"
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000",
                         "--lang=zh-CN", "--autoplay-policy=no-user-gesture-required"):  # fmt: skip
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
        self.base_url = base_url
        self.name = name

    def open(self, path: str = "/") -> None:
        self.driver.get(f"{self.base_url}{path}")

    def login(self, username: str, password: str) -> None:
        self.find("#login-username").clear()
        self.find("#login-username").send_keys(username)
        self.find("#login-password").send_keys(password)
        self.find("#login-submit").click()
        self.wait(lambda: self.visible("#console"), f"{username}'s console", 20)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        """Click the element `css` names, finding it again if the live view re-rendered it meanwhile."""
        for _ in range(5):
            try:
                self.find(css).click()
                return
            except StaleElementReferenceException:
                time.sleep(0.2)
        self.find(css).click()

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css: str) -> bool:
        try:
            return self.find(css).is_displayed()
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    def text(self, css: str) -> str:
        try:
            return str(self.find(css).text)
        except (NoSuchElementException, StaleElementReferenceException):
            return ""

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, condition: Callable[[], T], what: str, timeout: float = 30) -> T:
        """Poll `condition` until it returns something truthy (returned); fail naming `what`, with a screenshot."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2,
                                 ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
                lambda _driver: condition())  # fmt: skip
        except TimeoutException:
            self.screenshot(f"failed-{self.name}-{int(time.time())}")
            raise AssertionError(f"{self.name}: no {what} within {timeout} s") from None

    def go(self, hash_route: str) -> None:
        """Navigate inside the console (no reload)."""
        self.js("location.hash = arguments[0]", hash_route)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def errors(self) -> list[str]:
        """Uncaught script errors of the page, and anything the Content-Security-Policy refused (a script, a
        style, an image, a connection); failed requests, e.g. a 404 thumbnail or a fetch while the network is
        down, are the console's to handle and not counted."""
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE"
            and ("Uncaught" in entry["message"] or "Content Security Policy" in entry["message"])
        ]

    def quit(self) -> None:
        self.driver.quit()
